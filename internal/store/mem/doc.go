// Package mem is a store.Store in memory, for tests. It follows the same
// contract as every other store and passes the conformance suite, so a test
// that passes against it says something about real stores.
//
// It copies data on Put and Get: callers may reuse their buffers. It must
// not be used to hold a real repository: nothing survives the process.
package mem
