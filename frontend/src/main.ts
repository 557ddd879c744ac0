// Placeholder entry point: the "web" part (screens, annotation, API client) replaces it.
const root = document.getElementById("app");
if (root) {
  root.textContent = "MammoLab";
}
