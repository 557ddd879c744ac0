// The keyboard help overlay ("?"): every shortcut of the reading screen in one list.

import { FINDING_CATEGORIES, categoryShortcut } from "../annotate/vocabulary";
import { h } from "./dom";

export interface Shortcut {
  keys: string[];
  what: string;
}

export type ShortcutGroups = { group: string; items: Shortcut[] }[];

/** Built when asked: the category shortcuts come from the served vocabulary, installed at start-up. */
export function shortcuts(): ShortcutGroups {
  return [
    {
      group: "Tools",
      items: [
        { keys: ["V"], what: "Select boxes; drag on the image for window/level" },
        { keys: ["H"], what: "Pan" },
        { keys: ["B"], what: "Draw a box" },
        { keys: ["D"], what: "Length: drag to measure in mm (click a line, Del removes it)" },
        { keys: ["Wheel"], what: "Zoom about the cursor" },
        { keys: ["Middle drag"], what: "Pan with any tool" },
      ],
    },
    {
      group: "Image",
      items: [
        { keys: ["R"], what: "Reset window/level" },
        { keys: ["I"], what: "Invert" },
        { keys: ["X"], what: "Magnifier: off → 2× → 4× → off (follows the pointer, full depth, current window)" },
        { keys: ["[ / ]"], what: "Magnifier smaller / larger" },
        { keys: ["F"], what: "Fit all views (in the current fit mode)" },
        { keys: ["Z"], what: "Fit mode: breast → whole film → true size → 1:1 pixels" },
        { keys: ["S"], what: "Sync zoom/pan across views on/off" },
        { keys: ["L"], what: "Link window/level across views on/off" },
        { keys: ["G"], what: "Layout: four views" },
        { keys: ["C"], what: "Layout: CC views only" },
        { keys: ["M"], what: "Layout: MLO views only" },
        { keys: ["O"], what: "The view under the pointer alone (again: back)" },
        { keys: ["P"], what: "Current over the most recent prior exam, CC or MLO pair (C / M switch; again: back)" },
        { keys: ["Shift", "P"], what: "Next older prior exam (after the oldest: the most recent again)" },
      ],
    },
    {
      group: "Selected box",
      items: [
        ...FINDING_CATEGORIES.map((c, i) => ({ keys: [categoryShortcut(i)], what: `Toggle ${c}` })),
        { keys: ["Shift", "3 / 4 / 5"], what: "Finding BI-RADS 3, 4, 5" },
        { keys: ["Del"], what: "Delete the selected box or measurement" },
        { keys: ["Esc"], what: "Deselect" },
      ],
    },
    {
      group: "Exam",
      items: [
        { keys: ["Ctrl", "Enter"], what: "Submit (shows a summary first)" },
        { keys: ["N"], what: "Next unread exam (saves first)" },
        { keys: ["?"], what: "This help" },
      ],
    },
  ];
}

export function openHelp(groups: ShortcutGroups): void {
  if (document.getElementById("help-dialog")) return;
  const close = h("button", { type: "button", class: "btn", id: "close-help" }, "Close");
  const dialog = h(
    "dialog",
    { class: "dialog help", id: "help-dialog", "aria-labelledby": "help-title" },
    h("h2", { id: "help-title" }, "Keyboard shortcuts"),
    h(
      "div",
      { class: "help-grid" },
      ...groups.map((g) =>
        h(
          "section",
          {},
          h("h3", {}, g.group),
          h("dl", {}, ...g.items.flatMap((s) => [h("dt", {}, ...s.keys.flatMap((k, i) => [i ? " + " : "", h("kbd", {}, k)])), h("dd", {}, s.what)])),
        ),
      ),
    ),
    h("div", { class: "dialog-actions" }, close),
  );
  const done = (): void => {
    dialog.close();
    dialog.remove();
  };
  close.addEventListener("click", done);
  dialog.addEventListener("cancel", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}
