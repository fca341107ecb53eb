
þhäFÒ\8ª&€žzô`ÂR

no_stringsR
no_intsR

no_doublesmsR
no_boolsR
no_bytes