"""The init job: settings -> memory sources (`gather`) -> budget and heap plan (`decide`) -> env
file and log (`run`). `report` renders a decision for the log and for `explain`."""
