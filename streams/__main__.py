"""``python -m streams worker`` runs a HitPred worker (same as ``faust -A streams.app``)."""

from streams.app import app

if __name__ == "__main__":
    app.main()
