// Package swaptest races code that checks a path and then uses it: a
// helper process swaps two directory entries atomically
// (renameat2(RENAME_EXCHANGE)), over and over, while a test backs up or
// restores the tree that holds one of them. It is for tests only.
//
// The helper is the test binary itself, started again: a test package that
// uses Start calls Main first thing in its TestMain.
package swaptest
