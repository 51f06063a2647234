"""Publishing under necessity and proportionality: what a registered purpose may release, protected, written
atomically and recorded.

* :mod:`pipeline.publish.cells`: a release's cells from one statistics vintage, at the detail asked for;
* :mod:`pipeline.publish.protect`: the purpose's disclosure method applied to them;
* :mod:`pipeline.publish.sdmx`: SDMX-CSV 2.0 files;
* :mod:`pipeline.publish.files`: atomic writing of a release directory;
* :mod:`pipeline.publish.release`: the publish step (register checks, calendar, ledger, manifest);
* :mod:`pipeline.publish.report`: the data team's HTML report of a release.
"""
