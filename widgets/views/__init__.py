"""One module per figure group; each view takes (state, results) and redraws its marks in place."""
