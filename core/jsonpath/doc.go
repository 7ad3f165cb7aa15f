// Package jsonpath compiles JSONPath expressions (RFC 9535, plus the
// Goessner forms users paste from older docs) once and evaluates them many
// times directly over raw JSON bytes with gjson; documents are never
// unmarshalled.
//
// The API:
//
//	func Compile(expr string) (*Path, error)        // *SyntaxError on bad input
//	func MustCompile(expr string) *Path
//	func (p *Path) String() string                  // the source text
//	func (p *Path) Values(doc []byte) [][]byte      // raw JSON of each node, RFC order
//	func (p *Path) Nodes(doc []byte) []Node         // values with normalized paths
//	func (p *Path) Query(doc []byte) ([]Node, error) // Nodes, reporting ErrTooMuchWork
//	func CompileFilter(expr string) (*Filter, error) // a filter expression, @ = document root
//	func (f *Filter) Match(doc []byte) bool
//	func Leaves(doc []byte) []Leaf                  // every leaf with its paths
//
// doc must be valid JSON (callers validate first); results alias doc.
//
// # Language
//
// Everything in RFC 9535: names (dot and quoted), wildcards, indexes
// (negative too), slices with steps, unions, descendants (..), filters with
// comparisons, &&, ||, !, parentheses, existence tests and the functions
// length, count, match, search and value, type-checked at compile time.
// Numbers compare by their exact decimal value, so integers beyond 2^53
// (64-bit IDs) that round to the same float64 still differ.
// match and search take I-Regexp patterns (RFC 9485), translated to Go
// regexp with '.' matching anything but \n and \r and match anchored at
// both ends; patterns outside I-Regexp make the function false. As the
// compliance suite expects, ^ and $ outside a character class anchor at the
// start and end of the string.
//
// Goessner forms accepted on top: === and !== (meaning == and !=), filters
// written ?(...) (already valid RFC 9535), and the scripts (@.length-N)
// selecting the N-th element from the end. Any other script is refused at
// compile time; nothing is ever executed.
//
// Deviation: a dot-shorthand name containing a typographic quote (“ ” ‘ ’)
// is refused with advice to use straight quotes, because it is almost
// always a pasted quoted name; write ['‘x’'] for such a member.
//
// # Errors
//
// A *SyntaxError carries the 1-based column (in characters) of the
// offending character and says what was expected there.
//
// # Bounds
//
// Hostile selectors and documents cannot panic, hang or exhaust the stack:
//
//   - a selector is at most 64 KiB; filters, function calls and nested
//     queries nest at most 64 deep (compile error beyond);
//   - descendant segments walk the document with an explicit stack, so the
//     document's nesting depth never becomes Go stack depth; comparing
//     arrays and objects by value recurses at most 256 levels (deeper
//     structures are equal only if their raw JSON is identical);
//   - slices cost at most the length of the array, whatever their bounds
//     and step;
//   - one evaluation may do at most MaxWork (4 Mi) units of work per
//     started MiB of document (a value visited, a filter evaluated, a
//     value compared, 16 bytes of JSON scanned, 16 bytes of regexp
//     input per instruction of the pattern; 256 units per byte of a
//     pattern from the document compiled); Nodes renders at most
//     MaxPathBytes (64 MiB) of normalized paths. Beyond either, Values and
//     Nodes return nil, Query returns ErrTooMuchWork and Match is false.
//     gjson rescans a nested container at each level above it, so a
//     document costs its size times its depth: a 100 KB document nested
//     50,000 deep reaches the budget in about 0.2 s;
//   - regular expressions are at most 4 KiB and run in linear time (Go's
//     RE2), input length times pattern size; patterns from documents are
//     cached (256 entries);
//   - Leaves returns at most MaxLeaves (100,000) leaves, MaxLeafPathBytes
//     (16 MiB) of paths and scans at most MaxLeafScanBytes (64 MiB), then
//     stops (the result is truncated).
//
// Benchmarks against ojg and theory/jsonpath are recorded in README.md.
package jsonpath
