"""Code the tests share (`common`) and the scripts they run in fresh processes."""
