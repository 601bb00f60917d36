"""Messages people can act on: the directory of people, templates, signed action links, delivery."""
