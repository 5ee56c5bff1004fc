package distributed

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// The rendezvous store: a key-value store served over TCP by rank 0 at
// MASTER_ADDR:MASTER_PORT, as torchrun's TCPStore. Ranks publish their
// engine addresses (Gloo's) and unique ids (NCCL's) in it and read those of
// the others; a read of a missing key waits until some rank sets it or the
// timeout passes. It is used only while groups connect and close, never on
// the path of a collective.

// Store is the rendezvous store's client. Its methods are safe for
// concurrent use.
type Store struct {
	mu      sync.Mutex
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
	server  *storeServer // non-nil on the rank that serves the store
}

const (
	opSet = 's'
	opGet = 'g'
	opAdd = 'a'
)

// storeServer holds the keys.
type storeServer struct {
	ln      net.Listener
	mu      sync.Mutex
	vals    map[string][]byte
	waiters map[string]chan struct{}
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// listenStore serves a store at addr.
func listenStore(addr string) (*storeServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &storeServer{ln: ln, vals: map[string][]byte{}, waiters: map[string]chan struct{}{}, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

func (s *storeServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// close stops the server and drops its connections.
func (s *storeServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// wait returns a channel closed once key is set.
func (s *storeServer) wait(key string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.waiters[key]
	if !ok {
		ch = make(chan struct{})
		s.waiters[key] = ch
		if _, set := s.vals[key]; set {
			close(ch)
		}
	}
	return ch
}

func (s *storeServer) set(key string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, was := s.vals[key]
	s.vals[key] = v
	if ch, ok := s.waiters[key]; ok && !was {
		close(ch)
	}
}

func (s *storeServer) handle(c net.Conn) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	for {
		op, err := r.ReadByte()
		if err != nil {
			return
		}
		key, err := readBlob(r)
		if err != nil {
			return
		}
		val, err := readBlob(r)
		if err != nil {
			return
		}
		status, reply := byte(0), []byte(nil)
		switch op {
		case opSet:
			s.set(string(key), val)
		case opGet:
			// val holds the client's timeout in milliseconds: the server
			// answers "missing" (status 1) when it passes.
			if len(val) != 8 {
				return
			}
			t := time.NewTimer(time.Duration(binary.LittleEndian.Uint64(val)) * time.Millisecond)
			select {
			case <-s.wait(string(key)):
				s.mu.Lock()
				reply = s.vals[string(key)]
				s.mu.Unlock()
			case <-t.C:
				status = 1
			}
			t.Stop()
		case opAdd:
			if len(val) != 8 {
				return
			}
			s.mu.Lock()
			var cur int64
			if v, ok := s.vals[string(key)]; ok && len(v) == 8 {
				cur = int64(binary.LittleEndian.Uint64(v))
			}
			cur += int64(binary.LittleEndian.Uint64(val))
			reply = binary.LittleEndian.AppendUint64(nil, uint64(cur))
			s.mu.Unlock()
			s.set(string(key), reply)
		default:
			return
		}
		if w.WriteByte(status) != nil || writeBlob(w, reply) != nil || w.Flush() != nil {
			return
		}
	}
}

func readBlob(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	l := binary.LittleEndian.Uint32(n[:])
	if l > 1<<26 {
		return nil, fmt.Errorf("store message of %d bytes", l)
	}
	b := make([]byte, l)
	_, err := io.ReadFull(r, b)
	return b, err
}

func writeBlob(w io.Writer, b []byte) error {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// errMissing is returned by a Get whose key was not set in time.
var errMissing = errors.New("key not set")

// dialStore connects to the store at addr, retrying until timeout passes
// (rank 0 may not be listening yet).
func dialStore(addr string, timeout time.Duration) (*Store, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Until(deadline))
		if err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetNoDelay(true)
			}
			return &Store{conn: c, r: bufio.NewReader(c), timeout: timeout}, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, os.ErrDeadlineExceeded) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				// Unreachable hosts and the like: keep trying too, slowly.
				time.Sleep(200 * time.Millisecond)
				continue
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// request sends one request and reads its reply.
func (s *Store) request(op byte, key string, val []byte, wait time.Duration) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil, net.ErrClosed
	}
	s.conn.SetDeadline(time.Now().Add(wait + s.timeout))
	msg := []byte{op}
	msg = binary.LittleEndian.AppendUint32(msg, uint32(len(key)))
	msg = append(msg, key...)
	msg = binary.LittleEndian.AppendUint32(msg, uint32(len(val)))
	msg = append(msg, val...)
	if _, err := s.conn.Write(msg); err != nil {
		return nil, err
	}
	status, err := s.r.ReadByte()
	if err != nil {
		return nil, err
	}
	v, err := readBlob(s.r)
	if err != nil {
		return nil, err
	}
	if status != 0 {
		return nil, errMissing
	}
	return v, nil
}

// Set stores value under key.
func (s *Store) Set(key string, value []byte) error {
	_, err := s.request(opSet, key, value, 0)
	return err
}

// Get returns the value of key, waiting until some rank sets it or the
// store's timeout passes (then the error matches ErrTimeout).
func (s *Store) Get(key string) ([]byte, error) {
	v, err := s.request(opGet, key, binary.LittleEndian.AppendUint64(nil, uint64(s.timeout.Milliseconds())), s.timeout)
	if errors.Is(err, errMissing) {
		return nil, fmt.Errorf("store key %q not set within %v: %w", key, s.timeout, ErrTimeout)
	}
	return v, err
}

// Add adds delta to the integer under key (0 if unset) and returns the sum.
func (s *Store) Add(key string, delta int64) (int64, error) {
	v, err := s.request(opAdd, key, binary.LittleEndian.AppendUint64(nil, uint64(delta)), 0)
	if err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(v)), nil
}

// close drops the connection, and on the serving rank stops the server.
func (s *Store) close() {
	s.mu.Lock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	s.mu.Unlock()
	if s.server != nil {
		s.server.close()
	}
}
