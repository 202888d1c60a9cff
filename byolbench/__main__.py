"""Allows ``python -m byolbench`` and ``accelerate launch -m byolbench``."""

from byolbench.cli.main import main

if __name__ == "__main__":
    main()
