package data

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Where [Fortunes] looks for the fortunes corpus.
const (
	// FortunesEnv is the environment variable that names the directory of
	// the fortune files, overriding the default locations.
	FortunesEnv = "TAPEGRAD_FORTUNES"
	// FortunesSystemDir is where Debian's fortunes package installs them.
	FortunesSystemDir = "/usr/share/games/fortunes"
	// FortunesCacheDir is where scripts/fortunes.sh extracts them without
	// root, relative to the root of a tapegrad checkout.
	FortunesCacheDir = ".cache/fortunes"
)

// FortunesFiles are the names of the files of the fortunes corpus, sorted
// bytewise, the order in which [LoadFortunes] concatenates them: the 40
// plain-text files of Debian 12's package fortunes (1:1.99.1-7.3), without
// the .dat indexes and .u8 links of the package and without the files of
// fortunes-min (fortunes, literature, riddles), which the installed package
// brings along in the same directory. Together they are 2,478,275 bytes of
// English with 114 distinct byte values.
var FortunesFiles = [40]string{
	"art", "ascii-art", "computers", "cookie", "debian", "definitions",
	"disclaimer", "drugs", "education", "ethnic", "food", "goedel",
	"humorists", "kids", "knghtbrd", "law", "linux", "linuxcookie", "love",
	"magic", "medicine", "men-women", "miscellaneous", "news", "paradoxum",
	"people", "perl", "pets", "platitudes", "politics", "pratchett",
	"science", "songs-poems", "sports", "startrek", "tao", "translate-me",
	"wisdom", "work", "zippy",
}

const fortunesHelp = "get it with `bash scripts/fortunes.sh` in a tapegrad checkout " +
	"(no root needed: it extracts the files into " + FortunesCacheDir + ", where they are found, and prints the directory, for $" + FortunesEnv +
	") or with `apt-get install fortunes` (Debian, as root)"

// FortunesDir returns the directory that [LoadFortunes]("") reads: the
// directory named by $TAPEGRAD_FORTUNES if that is set (whether or not it
// holds the files), else the first of these that holds the first of
// [FortunesFiles]:
//
//   - /usr/share/games/fortunes (Debian's fortunes package),
//   - .cache/fortunes in the working directory or the nearest parent
//     directory that has one (where scripts/fortunes.sh puts the files;
//     this finds them from anywhere inside a tapegrad checkout).
//
// If none does, it returns an [ErrNotFound] error that says how to get the
// corpus (run scripts/fortunes.sh).
func FortunesDir() (string, error) {
	if dir := os.Getenv(FortunesEnv); dir != "" {
		return dir, nil
	}
	has := func(dir string) bool {
		fi, err := os.Stat(filepath.Join(dir, FortunesFiles[0]))
		return err == nil && fi.Mode().IsRegular()
	}
	if has(FortunesSystemDir) {
		return FortunesSystemDir, nil
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if c := filepath.Join(d, FortunesCacheDir); has(c) {
				return c, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", &Error{Path: FortunesSystemDir, Kind: ErrNotFound, Err: os.ErrNotExist, Detail: fmt.Sprintf(
		"the fortunes corpus was not found (nor in %s of the working directory or its parents, and $%s is not set); %s",
		FortunesCacheDir, FortunesEnv, fortunesHelp)}
}

// LoadFortunes returns the fortunes corpus: the files [FortunesFiles] of dir
// concatenated in that order (sorted by name), byte for byte, with nothing
// between them (each file ends with its own newline). Other files in dir
// are ignored, so the corpus is the same whether dir is the cache of
// scripts/fortunes.sh or Debian's installed directory. With dir "", it uses
// [FortunesDir].
//
// A missing directory or file gives an error that matches [ErrNotFound] and
// says how to get the corpus.
func LoadFortunes(dir string) ([]byte, error) {
	if dir == "" {
		var err error
		if dir, err = FortunesDir(); err != nil {
			return nil, err
		}
	}
	var missing []string
	paths := make([]string, len(FortunesFiles))
	for i, f := range FortunesFiles {
		paths[i] = filepath.Join(dir, f)
		if _, err := os.Stat(paths[i]); errors.Is(err, os.ErrNotExist) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		if len(missing) == len(FortunesFiles) {
			missing = []string{"all " + fmt.Sprint(len(missing))}
		}
		return nil, &Error{Path: dir, Kind: ErrNotFound, Err: os.ErrNotExist, Detail: fmt.Sprintf(
			"fortune file(s) missing: %s; %s", strings.Join(missing, ", "), fortunesHelp)}
	}
	return ConcatFiles(paths...)
}

// ConcatFiles returns the contents of the files, concatenated in the order
// given. Errors are [*Error]s that name the file.
func ConcatFiles(paths ...string) ([]byte, error) {
	sizes := make([]int64, len(paths))
	var total int64
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, osErr(p, err)
		}
		if !fi.Mode().IsRegular() {
			return nil, &Error{Path: p, Detail: "not a regular file"}
		}
		sizes[i] = fi.Size()
		total += sizes[i]
	}
	var buf bytes.Buffer
	buf.Grow(int(total))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, osErr(p, err)
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// Corpus is a text prepared for a character-level language model: the
// text, its [Vocab], the whole text encoded, and that encoding split into a
// training and a validation part by [SplitTrainVal].
type Corpus struct {
	Text   []byte  // the text
	Vocab  *Vocab  // the distinct bytes of Text
	Tokens []int32 // Text encoded with Vocab
	Train  []int32 // the first 90% of Tokens
	Val    []int32 // the rest: the last 10%
}

// NewCorpus encodes text with its own vocabulary ([NewVocab]) and splits
// the tokens 90/10 ([SplitTrainVal]). The vocabulary is that of the whole
// text, so that the validation part encodes too (in the fortunes corpus one
// byte, 0xbc, of a UTF-8 character, occurs in the validation part only).
// The corpus uses text without copying it.
func NewCorpus(text []byte) *Corpus {
	v := NewVocab(text)
	tokens, err := v.Encode(text)
	if err != nil {
		panic(err) // cannot happen: the vocabulary has every byte of text
	}
	train, val := SplitTrainVal(tokens)
	return &Corpus{Text: text, Vocab: v, Tokens: tokens, Train: train, Val: val}
}

// String describes the corpus, e.g. "Corpus(2478275 characters, vocabulary
// of 114, 2230447 train, 247828 validation)".
func (c *Corpus) String() string {
	return fmt.Sprintf("Corpus(%d characters, vocabulary of %d, %d train, %d validation)",
		len(c.Tokens), c.Vocab.Size(), len(c.Train), len(c.Val))
}

// Fortunes loads the fortunes corpus ([LoadFortunes](dir); dir "" finds it)
// and prepares it with [NewCorpus]: 2,478,275 characters (bytes), a
// vocabulary of 114, 2,230,447 tokens for training and 247,828 for
// validation.
func Fortunes(dir string) (*Corpus, error) {
	text, err := LoadFortunes(dir)
	if err != nil {
		return nil, err
	}
	return NewCorpus(text), nil
}

// SplitTrainVal splits s into its first 90% (len(s)*9/10 elements, rounded
// down) for training and the remaining last 10% for validation. The two are
// slices of s. A contiguous split keeps validation text unseen in training
// (a random split of windows would put overlapping text in both).
func SplitTrainVal[T any](s []T) (train, val []T) {
	cut := len(s) / 10 * 9
	cut += len(s) % 10 * 9 / 10 // len(s)*9/10 without overflow
	return s[:cut:cut], s[cut:]
}
