// Package storetest is the conformance suite for store.Store: every
// implementation's tests call Run, and a store that passes follows the
// contract written on store.Store.
//
// The suite uses only the standard library and the store under test; it
// must not know about any particular implementation (no type assertions,
// no peeking at disks or buckets). Tests of implementation details belong
// in the implementation's own package.
package storetest
