"""Models of the ratings app: campaigns and their items (campaigns.py), judges and ratings (judging.py)."""

from ratings.models.campaigns import Campaign, Criterion, Item, ItemImage
from ratings.models.judging import Assignment, Judge, Rating

__all__ = ["Assignment", "Campaign", "Criterion", "Item", "ItemImage", "Judge", "Rating"]
