"""cmx report: a run directory as one self-contained HTML page (figures.py draws, page.py lays out,
facts.py and tasks.py make the sections, build.py writes report.html)."""
