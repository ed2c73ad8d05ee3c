/** /api/channels: ensuring a channel for a directory, binding existing channels, reading them. */
import { describe, expect, it } from "vitest";
import { call, callOk, Channel, ChannelList, createChannel, expectError, insertDiscordChannel, uniqueDir } from "./helpers.ts";

const ensure = (body: unknown, status: number) => callOk(Channel, "/api/channels", { method: "POST", body }, status);

describe("POST /api/channels", () => {
  it("creates a channel for a new directory with 201, named after the directory", async () => {
    const dir = uniqueDir("webshop");
    const channel = await ensure({ dir_path: dir }, 201);
    expect(channel).toMatchObject({
      dir_path: dir,
      name: dir.split("/").pop(),
      discord_channel_id: null,
      guild_id: null,
      parent_id: null,
      session_id: null,
    });
    expect(channel.id).toMatch(/^ch_/);
  });

  it("uses the given name when there is one", async () => {
    const channel = await ensure({ dir_path: uniqueDir(), name: "  Web shop  " }, 201);
    expect(channel.name).toBe("Web shop");
  });

  it("returns the existing channel with 200 when the directory is already bound", async () => {
    const dir = uniqueDir();
    const first = await ensure({ dir_path: dir }, 201);
    const again = await ensure({ dir_path: dir, name: "a different name" }, 200);
    expect(again).toEqual(first);
    expect((await callOk(ChannelList, "/api/channels")).channels.filter((c) => c.dir_path === dir)).toHaveLength(1);
  });

  it("normalises trailing slashes, so /a/b/ and /a/b are one channel", async () => {
    const dir = uniqueDir();
    const first = await ensure({ dir_path: `${dir}/` }, 201);
    expect(first.dir_path).toBe(dir);
    expect(first.name).toBe(dir.split("/").pop());
    expect((await ensure({ dir_path: dir }, 200)).id).toBe(first.id);
    expect((await ensure({ dir_path: `${dir}///` }, 200)).id).toBe(first.id);
  });

  it("normalises . and .. and doubled slashes, so one directory is one channel", async () => {
    const dir = uniqueDir();
    const first = await ensure({ dir_path: dir }, 201);
    const [, top, ...rest] = dir.split("/");
    expect((await ensure({ dir_path: `/${top}/./${rest.join("//")}` }, 200)).id).toBe(first.id);
    expect((await ensure({ dir_path: `/${top}/elsewhere/../${rest.join("/")}/.` }, 200)).id).toBe(first.id);
  });

  it.each([
    ["a relative path", "projects/web"],
    ["a dot path", "./web"],
    ["a home-relative path", "~/web"],
    ["an empty path", ""],
  ])("refuses %s with 422 naming dir_path", async (_name, dir) => {
    const res = await call("/api/channels", { method: "POST", body: { dir_path: dir } });
    await expectError(res, 422, { code: "invalid_request", field: "dir_path" });
  });

  it("binds an existing Discord channel, named by its Discord id, to a directory", async () => {
    const { id, discordId } = await insertDiscordChannel("general");
    const dir = uniqueDir();
    const bound = await ensure({ dir_path: dir, channel_id: discordId }, 200);
    expect(bound).toMatchObject({ id, discord_channel_id: discordId, dir_path: dir, name: "general" });
    // From now on the directory finds it, and binding again is a no-op.
    expect((await ensure({ dir_path: dir }, 200)).id).toBe(id);
    expect((await ensure({ dir_path: dir, channel_id: id }, 200)).id).toBe(id);
  });

  it("creates a channel for a Discord snowflake Loop has not seen yet", async () => {
    const snowflake = "123456789012345678";
    const dir = uniqueDir();
    const channel = await ensure({ dir_path: dir, channel_id: snowflake }, 201);
    expect(channel).toMatchObject({ id: snowflake, discord_channel_id: snowflake, dir_path: dir });
  });

  it("answers 404 for a channel_id that is neither a known channel nor a Discord snowflake", async () => {
    const res = await call("/api/channels", { method: "POST", body: { dir_path: uniqueDir(), channel_id: "ch_unknown" } });
    await expectError(res, 404, { code: "not_found" });
  });

  it("answers 409 naming dir_path when the directory is bound to a different channel", async () => {
    const a = await createChannel();
    const { id: otherId } = await insertDiscordChannel();
    const res = await call("/api/channels", { method: "POST", body: { dir_path: a.dir_path, channel_id: otherId } });
    const err = await expectError(res, 409, { code: "conflict", field: "dir_path" });
    expect(err.message).toContain(a.id);
    // Neither channel moved.
    expect(await callOk(Channel, `/api/channels/${a.id}`)).toEqual(a);
    expect((await callOk(Channel, `/api/channels/${otherId}`)).dir_path).toBeNull();
  });

  it("answers 409 naming channel_id when the channel is bound to a different directory", async () => {
    const a = await createChannel();
    const res = await call("/api/channels", { method: "POST", body: { dir_path: uniqueDir(), channel_id: a.id } });
    const err = await expectError(res, 409, { code: "conflict", field: "channel_id" });
    expect(err.message).toContain(a.dir_path!);
    expect(await callOk(Channel, `/api/channels/${a.id}`)).toEqual(a);
  });
});

describe("GET /api/channels", () => {
  it("lists every channel for an admin, oldest first", async () => {
    const a = await createChannel();
    const b = await createChannel();
    const { channels } = await callOk(ChannelList, "/api/channels");
    const ids = channels.map((c) => c.id);
    expect(ids).toEqual(expect.arrayContaining([a.id, b.id]));
    expect(ids.indexOf(a.id)).toBeLessThan(ids.indexOf(b.id));
  });

  it("pages: limit caps a page, after (the last id seen) gives the next, and limit is at most 500", async () => {
    for (let i = 0; i < 3; i++) await createChannel();
    const all = (await callOk(ChannelList, "/api/channels")).channels.map((ch) => ch.id);
    const paged: string[] = [];
    for (let after = ""; ; ) {
      const { channels } = await callOk(ChannelList, `/api/channels?limit=2${after ? `&after=${after}` : ""}`);
      expect(channels.length).toBeLessThanOrEqual(2);
      if (!channels.length) break;
      paged.push(...channels.map((ch) => ch.id));
      after = channels.at(-1)!.id;
    }
    expect(paged).toEqual(all);
    await expectError(await call("/api/channels?limit=501"), 422, { code: "invalid_request", field: "limit" });
    await expectError(await call("/api/channels?after=ch_nope"), 404, { code: "not_found" });
  });
});

describe("GET /api/channels/:id", () => {
  it("reads a channel by its Loop id and by its Discord id", async () => {
    const { id, discordId } = await insertDiscordChannel("ops");
    const byId = await callOk(Channel, `/api/channels/${id}`);
    expect(byId).toMatchObject({ id, discord_channel_id: discordId, name: "ops", dir_path: null });
    expect(await callOk(Channel, `/api/channels/${discordId}`)).toEqual(byId);
  });

  it("answers 404 for an unknown channel", async () => {
    await expectError(await call("/api/channels/ch_nope"), 404, { code: "not_found", field: null });
  });
});
