"""cmx report: a run directory as one self-contained HTML page (crossmodal_tf.figures draws, report_page.py lays out,
facts.py makes the sections every run has, each task's report_sections hook its own, build.py writes report.html)."""
