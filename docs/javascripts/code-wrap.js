// A code line too long for the column wraps (docs/stylesheets/extra.css); its continuation is
// indented 4 characters past the line's own indentation, so a wrapped line never looks like
// the next statement. Without JavaScript the continuation is indented 4 from the margin.
function hangWrappedCodeLines() {
  document.querySelectorAll('.md-typeset pre > code > span[id^="__span-"]').forEach((line) => {
    const hang = line.textContent.match(/^ */)[0].length + 4;
    line.style.paddingLeft = `${hang}ch`;
    line.style.textIndent = `-${hang}ch`;
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(hangWrappedCodeLines);  // material: runs again after instant navigation
} else {
  document.addEventListener("DOMContentLoaded", hangWrappedCodeLines);
}
