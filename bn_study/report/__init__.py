"""Tables, verdicts, plots, reports and pages, from result files alone."""
