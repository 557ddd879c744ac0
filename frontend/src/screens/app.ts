// The app shell: who is logged in, the top bar, client-side routing between screens.

import { h, clear } from "./dom";
import { type Vocabulary, installVocabulary } from "../annotate/vocabulary";

export interface Boot {
  user: { id: number; username: string; roles: string[] };
  urls: { logout: string; admin: string };
  vocabulary: Vocabulary;
}

export interface Screen {
  /** Called when leaving; return false to stay (e.g. unsaved work the reader wants to keep). */
  leave?(): boolean;
  destroy(): void;
}

export interface AppContext {
  boot: Boot;
  navigate(path: string): void;
  isAdmin: boolean;
  isSenior: boolean;
  main: HTMLElement;
  setTitle(title: string): void;
}

type Route = { pattern: RegExp; mount: (ctx: AppContext, match: RegExpMatchArray) => Screen };

export function readBoot(): Boot {
  const el = document.getElementById("mammolab-boot");
  if (!el?.textContent) throw new Error("mammolab-boot data missing: the page must be served by Django");
  const boot = JSON.parse(el.textContent) as Boot;
  installVocabulary(boot.vocabulary);
  return boot;
}

export class App {
  private current: Screen | null = null;
  readonly ctx: AppContext;
  private readonly nav: HTMLElement;

  constructor(
    root: HTMLElement,
    boot: Boot,
    private readonly routes: Route[],
  ) {
    const main = h("main", { id: "main", class: "main" });
    this.nav = h("nav", { class: "topnav", "aria-label": "Main" });
    const csrf = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/)?.[1] ?? "";
    const logout = h(
      "form",
      { method: "post", action: boot.urls.logout, class: "logout" },
      h("input", { type: "hidden", name: "csrfmiddlewaretoken", value: decodeURIComponent(csrf) }),
      h("button", { type: "submit", class: "btn btn-ghost", id: "logout" }, "Sign out"),
    );
    const header = h(
      "header",
      { class: "topbar" },
      h("a", { href: "/", class: "brand", "data-link": "" }, "MammoLab"),
      this.nav,
      h("span", { class: "spacer" }),
      h("span", { class: "whoami", id: "whoami" }, boot.user.username),
      logout,
    );
    clear(root);
    root.append(header, main);
    const roles = new Set(boot.user.roles);
    this.ctx = {
      boot,
      main,
      isAdmin: roles.has("admin"),
      isSenior: roles.has("senior_reader"),
      navigate: (path) => this.navigate(path),
      setTitle: (t) => {
        document.title = t ? `${t} · MammoLab` : "MammoLab";
      },
    };
    this.nav.append(h("a", { href: "/", "data-link": "" }, "Worklist"));
    if (this.ctx.isAdmin) this.nav.append(h("a", { href: "/manage/", "data-link": "" }, "Manage"));
    // Internal links navigate on the client; modifier clicks keep the browser's behaviour.
    document.addEventListener("click", (e) => {
      const a = (e.target as Element | null)?.closest?.("a[data-link]");
      if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
      e.preventDefault();
      this.navigate(a.getAttribute("href") ?? "/");
    });
    window.addEventListener("popstate", () => this.render());
    window.addEventListener("beforeunload", (e) => {
      if (this.current?.leave && !this.current.leave()) e.preventDefault();
    });
  }

  navigate(path: string): void {
    if (path === window.location.pathname) return;
    if (this.current?.leave && !this.current.leave()) return;
    history.pushState(null, "", path);
    this.render();
  }

  render(): void {
    this.current?.destroy();
    this.current = null;
    clear(this.ctx.main);
    const path = window.location.pathname;
    for (const a of this.nav.querySelectorAll("a")) {
      const href = a.getAttribute("href") ?? "";
      a.toggleAttribute("aria-current", href === "/" ? path === "/" : path.startsWith(href));
    }
    for (const route of this.routes) {
      const match = path.match(route.pattern);
      if (match) {
        this.current = route.mount(this.ctx, match);
        return;
      }
    }
    this.ctx.main.append(h("p", { class: "empty" }, "Page not found."));
  }
}
