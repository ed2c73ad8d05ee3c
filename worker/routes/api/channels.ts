import { Hono } from "hono";
import { AddTemplate, EnsureChannel, ListChannelsQuery, SetChannel } from "../../../protocol/api.ts";
import { ensureChannel, getChannel, listChannels, resetSession, setChannel } from "../../../core/domain/channels.ts";
import { addTemplateToChannel } from "../../../core/domain/templates.ts";
import { SetPolicy } from "../../../protocol/policy.ts";
import { setChannelPolicy } from "../../../core/domain/policy-store.ts";
import type { AppEnv } from "../../http/types.ts";
import { readBody, readQuery } from "../../http/validate.ts";

export const channelRoutes = new Hono<AppEnv>()
  .post("/", async (c) => {
    const { channel, created } = await ensureChannel(c.var.domain, await readBody(c, EnsureChannel));
    return c.json(channel, created ? 201 : 200);
  })
  .get("/", async (c) => c.json({ channels: await listChannels(c.var.domain, readQuery(c, ListChannelsQuery)) }))
  .get("/:id", async (c) => c.json(await getChannel(c.var.domain, c.req.param("id"))))
  .patch("/:id", async (c) => {
    const patch = await readBody(c, SetChannel);
    if (patch.runner_label === undefined && patch.session_id === undefined) return c.json(await getChannel(c.var.domain, c.req.param("id")));
    return c.json(await setChannel(c.var.domain, c.req.param("id"), patch));
  })
  .get("/:id/policy", async (c) => c.json((await getChannel(c.var.domain, c.req.param("id"))).permission_policy))
  .put("/:id/policy", async (c) => c.json((await setChannelPolicy(c.var.domain, c.req.param("id"), await readBody(c, SetPolicy))).permission_policy))
  .delete("/:id/session", async (c) => c.json(await resetSession(c.var.domain, c.req.param("id"))))
  .post("/:id/templates", async (c) => {
    const { name } = await readBody(c, AddTemplate);
    const { task, created } = await addTemplateToChannel(c.var.domain, c.req.param("id"), name);
    return c.json(task, created ? 201 : 200);
  });
