"""Views of the ratings app: judges' pages (judge.py) and campaign administration (staff.py)."""
