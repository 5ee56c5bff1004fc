package data

import (
	"fmt"
	"strconv"

	"github.com/tapegrad/tapegrad/tensor"
)

// Vocab is a character vocabulary of bytes: the distinct byte values of a
// text, sorted, numbered from 0. A character is a byte, not a Unicode code
// point, so every text encodes without loss and a model's output always
// decodes (a multi-byte UTF-8 character takes several tokens); the few
// non-ASCII characters of an English corpus cost little. The fortunes
// corpus has 114 distinct bytes (113 distinct code points).
//
// A Vocab is read-only after it is made and safe for concurrent use.
type Vocab struct {
	chars []byte     // id -> byte, increasing
	ids   [256]int16 // byte -> id, -1 if absent
}

// NewVocab returns the vocabulary of text: its distinct bytes in increasing
// order, so that byte chars[i] has id i. The same text gives the same ids on
// every machine.
func NewVocab(text []byte) *Vocab {
	var seen [256]bool
	for _, b := range text {
		seen[b] = true
	}
	v := &Vocab{}
	for b := range 256 {
		v.ids[b] = -1
		if seen[b] {
			v.ids[b] = int16(len(v.chars))
			v.chars = append(v.chars, byte(b))
		}
	}
	return v
}

// Size returns the number of characters, the ids being 0 to Size()-1.
func (v *Vocab) Size() int { return len(v.chars) }

// Chars returns the characters in id order (a copy).
func (v *Vocab) Chars() []byte { return append([]byte(nil), v.chars...) }

// ID returns the id of character c, and whether c is in the vocabulary.
func (v *Vocab) ID(c byte) (int32, bool) {
	id := v.ids[c]
	return int32(id), id >= 0
}

// Char returns the character of id. It panics with a [*tensor.Error] of kind
// [tensor.ErrArgument] if id is not in 0 to Size()-1.
func (v *Vocab) Char(id int32) byte {
	if id < 0 || int(id) >= len(v.chars) {
		panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.Vocab.Char", Detail: fmt.Sprintf("id %d of a vocabulary of %d", id, len(v.chars))})
	}
	return v.chars[id]
}

// Encode returns the ids of the bytes of text. A byte that is not in the
// vocabulary gives an error that matches [ErrUnknownChar] and names the
// byte and its offset.
func (v *Vocab) Encode(text []byte) ([]int32, error) {
	ids := make([]int32, len(text))
	for i, b := range text {
		id := v.ids[b]
		if id < 0 {
			return nil, &Error{Kind: ErrUnknownChar, Detail: fmt.Sprintf(
				"byte %s (0x%02x) at offset %d is not in the vocabulary of %d characters", strconv.Quote(string([]byte{b})), b, i, len(v.chars))}
		}
		ids[i] = int32(id)
	}
	return ids, nil
}

// Decode returns the text of ids. It panics with a [*tensor.Error] of kind
// [tensor.ErrArgument] if an id is not in 0 to Size()-1. The result is the
// bytes of the text as they were: it is valid UTF-8 when they were, which a
// window cut out of the middle of a multi-byte character is not.
func (v *Vocab) Decode(ids []int32) string {
	b := make([]byte, len(ids))
	for i, id := range ids {
		if id < 0 || int(id) >= len(v.chars) {
			panic(&tensor.Error{Kind: tensor.ErrArgument, Op: "data.Vocab.Decode", Detail: fmt.Sprintf("id %d at index %d, of a vocabulary of %d", id, i, len(v.chars))})
		}
		b[i] = v.chars[id]
	}
	return string(b)
}

// String describes the vocabulary, e.g. "Vocab(114 characters)".
func (v *Vocab) String() string { return fmt.Sprintf("Vocab(%d characters)", len(v.chars)) }
