// Package faulty wraps a store.Store and injects faults, for tests of the
// code above the store: make the Nth Put, or every Put under a key prefix,
// fail, or hang until its context is done; make Get return an object with a
// flipped byte.
//
// A Put made to fail stores nothing, as the contract says of failed Puts.
// Nothing else is changed: without faults the wrapper passes the
// conformance suite. It must not be used outside tests.
package faulty
