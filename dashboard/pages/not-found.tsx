export function NotFound({ what = "This page" }: { what?: string }) {
  return (
    <section aria-labelledby="nf-title">
      <h1 id="nf-title">Not found</h1>
      <p>{what} does not exist, or the token you signed in with cannot see it.</p>
      <p>
        <a href="/">Back to the overview</a>
      </p>
    </section>
  );
}
