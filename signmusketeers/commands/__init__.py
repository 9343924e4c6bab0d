"""The console script's pipeline steps: each module registers one command's options and prints what a library
function returns (the work itself lives in the stage packages)."""
