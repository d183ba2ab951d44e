"""Alerts to the people who own the customers: ``relscore notify`` and what it is made of.

Owners (:mod:`~streams.notify.owners`, followed by :mod:`~streams.runtime.owner_directory`),
routes (:mod:`~streams.notify.routes`), messages (:mod:`~streams.notify.messages`), sending
(:mod:`~streams.notify.courier`), the delivery log (:mod:`~streams.notify.delivery_log`) and
the service that ties them (:mod:`~streams.notify.notifier`).
"""
