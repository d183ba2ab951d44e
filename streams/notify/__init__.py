"""Alerts to the people who own the customers: owners, and (to come) routes and delivery."""
