"""Which change wakes which work: the controller's informer, pool and membership callbacks.

`EventWiring` is the part of `meshtool.app.main.Controller` that turns changes into keys on the
work queue (it is a mixin: the controller owns the attributes it reads). The rules:
- a PCR that appears or changes and has no terminal condition is queued; a deleted one is
  forgotten by the reconciler;
- a Service change (`selectors.wakes`) or a pod change wakes the requests held on it;
- a CA pool reload and a ClusterTrustBundle change fire the trust-bundle publisher and queue
  every waiting request at once (one held for a missing pool, or until its CA is published,
  may be answerable now rather than at its next retry);
- a membership change fires the publisher, tells federation, and queues every waiting request
  (shares moved).
Every callback runs synchronously in the informer's event order, so each only enqueues.
"""

from __future__ import annotations

from typing import Any

from meshtool.api import decisions, selectors, types
from meshtool.app import components, federated
from meshtool.controllers import podcert, status
from meshtool.runtime import trigger, workqueue


class EventWiring:
    queue: workqueue.WorkQueue[str]
    bundle_trigger: trigger.Trigger
    informers: components.Informers
    reconciler: podcert.PodCertReconciler
    federation: federated.Federation | None

    def _wire_events(self) -> None:
        inf = self.informers
        for pcr_informer in inf.pcrs:
            pcr_informer.on_change(self._on_pcr)
        pod = decisions.pod
        inf.services.on_change(self._on_service)
        inf.pods.on_change(lambda key, old, new: self._wake(pod(*key.split("/", 1))))
        inf.bundles.on_change(self._on_bundle)

    def _on_pool_change(self) -> None:
        """A CA pool reloaded: republish, and look again at every waiting request now (one
        held for a missing or unusable pool can be answered at once, not at its next retry)."""
        self.bundle_trigger.fire()
        self._requeue_pending()

    def _on_bundle(self, key: str, old: Any, new: Any) -> None:
        """A ClusterTrustBundle changed: republish if it drifted, and look again at waiting
        requests (one held until its CA is published may be answerable now)."""
        self.bundle_trigger.fire()
        self._requeue_pending()

    def _requeue_pending(self) -> None:
        if hasattr(self, "informers"):  # pools load once before the informers exist
            for entry in self._pending():
                self.queue.add(entry.key)

    def _on_pcr(self, key: str, old: Any, new: types.PcrEntry | None) -> None:
        if new is None:
            self.reconciler.forget(key)
        elif not isinstance(new, types.Answered):
            self.queue.add(key)

    def _on_service(
        self, key: str, old: types.ServiceView | None, new: types.ServiceView | None
    ) -> None:
        for change in selectors.wakes(key, old, new):
            self._wake(change)

    def _wake(self, change: decisions.WakeOn) -> None:
        for key in self.reconciler.wakeups.waiting_on(change):
            self.queue.add(key)

    def _on_membership(self, live: tuple[str, ...]) -> None:
        self.bundle_trigger.fire()
        if self.federation is not None:
            self.federation.on_membership()
        for entry in self._pending():
            self.queue.add(entry.key)

    def _pending(self) -> list[status.Target]:
        entries = (e for inf in self.informers.pcrs for e in inf.values())
        return [e for e in entries if not isinstance(e, types.Answered)]
