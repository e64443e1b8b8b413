"""Demo corpora and their LFs: synthetic radiology reports and the UCI YouTube spam CSVs."""
