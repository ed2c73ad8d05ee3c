/** The dashboard's entry: styles, link interception, and the app mounted into #app. */
import "./style.css";
import { render } from "preact";
import { App } from "./app.tsx";
import { interceptLinks } from "./router.ts";

const root = document.getElementById("app")!;
interceptLinks(document.body);
render(<App />, root);
