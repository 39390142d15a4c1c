"""Independent reference implementations the tests compare against (mpmath, a separate simulator)."""
