"""The HTTP face of Stockwarden: action links from messages now; the API and pages of issue 6 next."""
