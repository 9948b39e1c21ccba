"""The documentation site builds with ``mkdocs build --strict`` (a broken link, a missing page or a
docstring griffe cannot read fails it), and its API reference documents every public name."""

import html
import importlib
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import zlib

import pytest

from tests.scripts import ROOT

PACKAGES = ("jaxcnn", "jaxcnn.models", "jaxcnn.ops", "jaxcnn.training", "jaxcnn.data", "jaxcnn.inspect")
PACKAGES += ("jaxcnn.autodiff", "jaxcnn.convert", "jaxcnn.bench", "jaxcnn.serve")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip('the docs tools are not installed: pip install -e ".[docs]"')
    out = tmp_path_factory.mktemp("site")
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def documented(site) -> set[str]:
    """The Python objects in the site's inventory (``objects.inv``, Sphinx's format)."""
    data = (site / "objects.inv").read_bytes()
    body = data.split(b"\n", 4)[4]  # four header lines, then zlib
    return {line.split()[0] for line in zlib.decompress(body).decode().splitlines() if " py:" in line}


def test_the_site_builds_with_every_page(site):
    for page in ("index", "getting-started", "training", "reliability", "results", "notebooks/backpropagation"):
        assert (site / page / "index.html").is_file() or (site / f"{page}.html").is_file(), page


def test_every_public_name_is_in_the_api_reference(site):
    names = documented(site)
    missing = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.ismodule(obj):  # a submodule re-exported by name (jaxcnn.models.resnet)
                canonical = obj.__name__
            else:
                canonical = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
            if f"{package}.{name}" not in names and canonical not in names:
                missing.append(f"{package}.{name}")
    assert not missing, f"not in docs/api: {missing}"


# A formula left as LaTeX in what a reader sees: $...$ (the notebooks' Markdown), \(...\) or \[...\]
# (pymdownx.arithmatex); code, preformatted text and scripts are not prose.
RAW_MATHS = re.compile(r"\$[^$\s][^$\n]{0,200}?\$|\\\(|\\\[")
NOT_PROSE = re.compile(
    r"<(script|style|pre|code|textarea)\b[^>]*>.*?</\1>|<span class=\"katex-mathml\">.*?</span>", re.S
)


def prose(page_html: str) -> str:
    """The text a reader sees of a page, without code, scripts and KaTeX's hidden MathML copy."""
    return html.unescape(re.sub(r"<[^>]+>", " ", NOT_PROSE.sub(" ", page_html)))


def pages_with_maths(site) -> list:
    return sorted(page for page in site.rglob("*.html") if RAW_MATHS.search(prose(page.read_text())))


def test_every_page_with_maths_loads_the_bundled_renderer(site):
    pages = pages_with_maths(site)
    assert any("backpropagation" in str(page) for page in pages), "the course's formulas were not found"
    for page in pages:
        text = page.read_text()
        for script in ("assets/katex/katex.min.js", "assets/katex/contrib/auto-render.min.js", "katex-init.js"):
            assert script in text, f"{page.relative_to(site)} has formulas but does not load {script}"
        assert not re.search(r"<script[^>]+src=\"https?://[^\"]*(katex|mathjax)", text, re.I), page


def rendered(page, user_data) -> str:
    """``page``'s DOM after its scripts ran, in headless Chromium at 1280 x 800 with no network
    (skips where there is no chromium)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium here (Debian: apt-get install chromium)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    flags += ["--disable-component-update", "--disable-sync", f"--user-data-dir={user_data}"]
    flags += ["--virtual-time-budget=5000", "--window-size=1280,800", "--dump-dom", page.as_uri()]
    return subprocess.run([chromium, *flags], capture_output=True, text=True, timeout=120).stdout


def test_formulas_render_offline_in_a_browser(site, tmp_path):
    """Headless Chromium, no network: after the page's scripts ran, its formulas are KaTeX, none left raw."""
    for page in pages_with_maths(site):
        dom = rendered(page, tmp_path)
        assert 'class="katex"' in dom, f"{page.relative_to(site)}: no formula rendered"
        left = RAW_MATHS.findall(prose(dom))
        assert not left, f"{page.relative_to(site)}: raw LaTeX left in the rendered page: {left[:3]}"


# Run in the page once it has loaded: the header cells of each notebook output table that lie past
# the right edge of the table's output area, written into the DOM for --dump-dom to carry out.
MEASURE_OUTPUT_TABLES = """<script>window.addEventListener("load", () => {
  const cut = [];
  for (const table of document.querySelectorAll(".jp-OutputArea-output table")) {
    const right = table.closest(".jp-OutputArea-output").getBoundingClientRect().right;
    for (const th of table.querySelectorAll("th"))
      if (th.getBoundingClientRect().right > right + 1) cut.push(th.textContent.trim());
  }
  document.body.setAttribute("data-cut-columns", JSON.stringify(cut));
});</script>"""


OUTPUT_TABLE = re.compile(r"jp-OutputArea-output[^>]*>\s*<table")


def test_notebook_output_tables_fit_their_output_area_in_a_laptop_window(site, tmp_path):
    """At 1280 pixels, with the navigation and the table of contents beside it, every column of a
    notebook's output table (three_families' comparison) is visible without scrolling."""
    pages = [p for p in (site / "notebooks").rglob("index.html") if OUTPUT_TABLE.search(p.read_text())]
    assert any("three_families" in str(page) for page in pages), "three_families' output table was not found"
    for page in pages:
        measured = page.with_name("measured.html")  # beside the page: its relative links still resolve
        measured.write_text(page.read_text().replace("</body>", MEASURE_OUTPUT_TABLES + "</body>"))
        found = re.search(r'data-cut-columns="([^"]*)"', rendered(measured, tmp_path))
        assert found, f"{page.relative_to(site)}: the measuring script did not run"
        cut = html.unescape(found[1])
        assert cut == "[]", f"{page.relative_to(site)}: columns cut off: {cut}"


def test_api_pages_show_no_sphinx_roles(site):
    """The site renders Markdown: a Sphinx role (:class:`X`) in a docstring would show as typed."""
    for page in (site / "api").rglob("*.html"):
        found = re.findall(r":(?:class|func|data|mod|meth|attr|obj):`", prose(page.read_text()))
        assert not found, f"{page.relative_to(site)}: {len(found)} Sphinx roles shown raw"


def test_the_jaxcnn_api_page_names_every_top_level_name(site):
    import jaxcnn

    text = html.unescape(re.sub(r"<[^>]+>", "", (site / "api" / "index.html").read_text()))
    missing = [name for name in jaxcnn.__all__ if f"jaxcnn.{name}" not in text]
    assert not missing, f"api/index.md does not name {missing}"
