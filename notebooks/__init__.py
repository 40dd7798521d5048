"""kral_nb's example notebooks, shipped inside the package as ``kral_nb.notebooks``:
``kral-nb notebooks DIR`` copies them out, ``kral-nb demo`` runs 02-side-by-side."""
