"""``python -m bench``: the end-to-end throughput benchmark."""

from bench.throughput import main

if __name__ == "__main__":
    main()
