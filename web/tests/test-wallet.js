// A Wallet Standard wallet for the browser tests, injected into the page before it loads
// (playwright's addInitScript): it signs with a funded keypair through WebCrypto Ed25519,
// as Phantom or Solflare would after the user approves. `window.__tesseraWallet.reject = true`
// makes it refuse the next signature, as a user pressing "Reject" does.
// Plain JavaScript, no imports: it is a string the test hands to the browser.
((cfg) => {
  const state = (window.__tesseraWallet = { reject: false, rejectTransaction: false });
  const secret = new Uint8Array(cfg.secret);
  const publicKey = secret.slice(32, 64);
  const pkcs8 = new Uint8Array([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20, ...secret.slice(0, 32)]);
  const key = crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
  const sign = async (bytes) => new Uint8Array(await crypto.subtle.sign('Ed25519', await key, bytes));
  const refuse = () => {
    if (state.reject) {
      state.reject = false;
      throw new Error('User rejected the request.');
    }
  };
  const shortvec = (b, at) => {
    let n = 0, shift = 0, i = at;
    for (;;) {
      const x = b[i++];
      n |= (x & 0x7f) << shift;
      if (!(x & 0x80)) return [n, i];
      shift += 7;
    }
  };
  const chains = ['solana:localnet', 'solana:devnet', 'solana:mainnet'];
  const account = Object.freeze({ address: cfg.address, publicKey, chains, features: ['solana:signTransaction', 'solana:signMessage'] });
  let accounts = [];
  const listeners = [];
  const wallet = {
    version: '1.0.0',
    name: 'Tessera Test Wallet',
    icon: 'data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCAxIDEiPjxyZWN0IHdpZHRoPSIxIiBoZWlnaHQ9IjEiIGZpbGw9IiMxNGI4YTYiLz48L3N2Zz4=',
    chains,
    get accounts() {
      return accounts;
    },
    features: {
      'standard:connect': {
        version: '1.0.0',
        connect: async () => {
          accounts = [account];
          listeners.forEach((l) => l({ accounts }));
          return { accounts };
        },
      },
      'standard:disconnect': { version: '1.0.0', disconnect: async () => { accounts = []; } },
      'standard:events': {
        version: '1.0.0',
        on: (_event, l) => {
          listeners.push(l);
          return () => listeners.splice(listeners.indexOf(l) >>> 0, 1);
        },
      },
      'solana:signTransaction': {
        version: '1.0.0',
        supportedTransactionVersions: ['legacy', 0],
        signTransaction: async (...inputs) => {
          refuse();
          if (state.rejectTransaction) {
            state.rejectTransaction = false;
            throw new Error('User rejected the request.');
          }
          return Promise.all(
            inputs.map(async ({ transaction }) => {
              const tx = new Uint8Array(transaction);
              const [nsig, sigAt] = shortvec(tx, 0);
              const msgAt = sigAt + 64 * nsig;
              const msg = tx.slice(msgAt);
              // the message: [version prefix] header(3) then the account keys; signers first
              let at = msg[0] & 0x80 ? 1 : 0;
              const required = msg[at];
              const [nkeys, keysAt] = shortvec(msg, at + 3);
              let slot = -1;
              for (let i = 0; i < Math.min(required, nkeys); i++) {
                const k = msg.subarray(keysAt + 32 * i, keysAt + 32 * i + 32);
                if (k.every((b, j) => b === publicKey[j])) slot = i;
              }
              if (slot < 0) throw new Error('this transaction is not for this wallet to sign');
              tx.set(await sign(msg), sigAt + 64 * slot);
              return { signedTransaction: tx };
            }),
          );
        },
      },
      'solana:signMessage': {
        version: '1.0.0',
        signMessage: async (...inputs) => {
          refuse();
          return Promise.all(inputs.map(async ({ message }) => ({ signedMessage: message, signature: await sign(message) })));
        },
      },
    },
  };
  const cb = ({ register }) => register(wallet);
  window.addEventListener('wallet-standard:app-ready', (e) => cb(e.detail));
  window.dispatchEvent(new CustomEvent('wallet-standard:register-wallet', { detail: cb }));
})
