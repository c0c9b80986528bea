"""Emergency aid (应急救助) from the charity federation's funds."""
