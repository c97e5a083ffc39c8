namespace caregate { int controller_placeholder() { return 0; } }
