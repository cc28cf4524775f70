"""Opinions from outside the ballots (座谈会、走访、接访、热线): docs/opinions.md."""
