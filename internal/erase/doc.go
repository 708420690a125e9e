// Package erase answers the question an erasure request (GDPR Art. 17)
// raises about backups: which backups hold this data, until when may each
// not be deleted (its expiry, its object lock), and by which date is the
// last copy gone.
//
// A target is a namespace, one object (KIND/NAMESPACE/NAME), or a label
// selector over the objects of the cluster backups. A cluster backup holds
// a namespace when its manifest counts objects in it, an object when its
// tree has the object's path (internal/cluster/layout), and a selector
// when an object's labels match; a pod-volume snapshot holds the data of
// its namespace, of its claim (a PersistentVolumeClaim target) and of its
// pod (a Pod matched by the target).
//
// A copy is gone at the first prune after the later of its expiry and its
// lock's end (the retain-until date of its snapshot object; the packs are
// locked at least as long). A backup that never expires is never gone by
// itself: the plan says so instead of giving a date.
//
// The plan only reads the repository; it needs no lock.
package erase
