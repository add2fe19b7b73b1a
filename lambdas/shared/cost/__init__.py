"""Cost and right-sizing (issue 14): instance table, price lists, pure cost arithmetic, manifest right-sizing."""
