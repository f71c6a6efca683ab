// compose.js OUT KIND — a message as nodemailer (npm, v6) writes it, from
// the filled templates in ./filled: what applications sending through the
// relay with nodemailer produce, byte for byte.
const fs = require('fs');
const MailComposer = require('nodemailer/lib/mail-composer');
const [out, kind] = process.argv.slice(2);
const f = name => fs.readFileSync(`filled/${name}`, 'utf8');
const base = {
  from: '"Acme Cloud" <no-reply@acme.example>',
  to: 'Zoë Müller <zoe@customer.example>',
  date: new Date('2026-12-04T09:30:00Z'),
  messageId: `<${kind}@acme.example>`,
};
const kinds = {
  // Transactional: alternative text + HTML, List-Unsubscribe (a link the
  // rewriter must leave alone).
  'password-reset': {
    subject: 'Set up a new password for Acme Cloud',
    // The footer link a sender adds beside the header's URL: the same URL,
    // so it must stay as it is.
    text: f('postmark-password-reset.txt'),
    html: f('postmark-password-reset.html').replace('</body>',
      '<p><a href="https://acme.example/unsubscribe?u=4821&amp;l=tx">Unsubscribe</a></p></body>'),
    headers: { 'List-Unsubscribe': '<https://acme.example/unsubscribe?u=4821&l=tx>, <mailto:unsubscribe@acme.example>',
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
  },
  // A receipt with its PDF: mixed(alternative(text, html), application/pdf).
  'receipt-pdf': {
    subject: 'Your Acme Cloud receipt R-2026-0042',
    text: f('postmark-receipt.txt'), html: f('postmark-receipt.html'),
    attachments: [{ filename: 'receipt-R-2026-0042.pdf', contentType: 'application/pdf',
      content: Buffer.from('%PDF-1.4\n1 0 obj << /URI (https://acme.example/in-the-pdf) >> endobj\n%%EOF\n') }],
  },
  // HTML only, base64 as nodemailer writes it when told to.
  'action-base64': {
    subject: 'Please confirm your email address',
    html: f('mailgun-action.html'), textEncoding: 'base64',
  },
};
new MailComposer({ ...base, ...kinds[kind] }).compile().build((err, msg) => {
  if (err) throw err;
  fs.writeFileSync(out, msg);
});
