// Render every formula of the page with the bundled KaTeX: the notebooks' Markdown keeps $...$
// and $$...$$, pymdownx.arithmatex (generic) writes \(...\) and \[...\]; code and pre are left alone.
function renderFormulas() {
  renderMathInElement(document.body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
    ],
    throwOnError: false,
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(renderFormulas); // Material's instant navigation re-renders each page
} else {
  document.addEventListener("DOMContentLoaded", renderFormulas);
}
