import "./styles.css";
import { App, readBoot } from "./screens/app";
import { mountWorklist } from "./screens/worklist";
import { mountReadScreen } from "./screens/read";
import { mountManage } from "./screens/manage";

const root = document.getElementById("app");
if (root) {
  const app = new App(root, readBoot(), [
    { pattern: /^\/$/, mount: (ctx) => mountWorklist(ctx) },
    { pattern: /^\/read\/(\d+)\/?$/, mount: (ctx, m) => mountReadScreen(ctx, Number(m[1]), "read") },
    { pattern: /^\/arbitrate\/(\d+)\/?$/, mount: (ctx, m) => mountReadScreen(ctx, Number(m[1]), "arbitrate") },
    { pattern: /^\/manage(?:\/([a-z-]+))?\/?$/, mount: (ctx, m) => mountManage(ctx, m[1] ?? "") },
  ]);
  app.render();
}
