import { Hono } from "hono";
import { CreateTask, ListTasksQuery, PreviewQuery, UpdateTask } from "../../../protocol/api.ts";
import { runTaskNow } from "../../../core/domain/runs.ts";
import { createTask, deleteTask, getTask, listTasks, previewTask, updateTask } from "../../../core/domain/tasks.ts";
import type { AppEnv } from "../../http/types.ts";
import { intParam, readBody, readQuery } from "../../http/validate.ts";

export const taskRoutes = new Hono<AppEnv>()
  .post("/", async (c) => c.json(await createTask(c.var.domain, await readBody(c, CreateTask)), 201))
  .get("/", async (c) => {
    const { channel_id, ...page } = readQuery(c, ListTasksQuery);
    return c.json({ tasks: await listTasks(c.var.domain, channel_id, page) });
  })
  .get("/:id", async (c) => c.json(await getTask(c.var.domain, intParam(c, "id", "task"))))
  .get("/:id/next", async (c) => {
    const id = intParam(c, "id", "task");
    const { count } = readQuery(c, PreviewQuery);
    return c.json({ task_id: id, next: await previewTask(c.var.domain, id, count) });
  })
  .patch("/:id", async (c) => {
    const id = intParam(c, "id", "task");
    return c.json(await updateTask(c.var.domain, id, await readBody(c, UpdateTask)));
  })
  // Run now, outside the schedule: the only way a manual task runs.
  .post("/:id/run", async (c) => c.json(await runTaskNow(c.var.domain, intParam(c, "id", "task"), "api"), 201))
  .delete("/:id", async (c) => {
    await deleteTask(c.var.domain, intParam(c, "id", "task"));
    return c.body(null, 204);
  });
