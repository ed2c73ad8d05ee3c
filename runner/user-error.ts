/** A mistake the user can fix (bad flag, missing config): printed plainly, exit code 1, no stack. */
export class UserError extends Error {
  override name = "UserError";
}
