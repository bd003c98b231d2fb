#include "notify/smtp.h"

#include <gtest/gtest.h>

#include "fakes.h"
#include "loopback_servers.h"
#include "notify/dispatcher.h"
#include "notify/memory_outbox.h"
#include "sample_alert.h"

namespace wgate::notify::testing {
namespace {

SmtpConfig config(const std::string& url) {
  SmtpConfig c;
  c.url = url;
  c.starttls = false;  // the fake server speaks no TLS
  c.from = "wgate@gw.example.com";
  c.to = {"admins@example.com"};
  c.timeout_ms = 5000;
  c.connect_timeout_ms = 2000;
  c.proxy = "";  // loopback only, whatever the environment's proxy
  return c;
}

std::unique_ptr<Notifier> smtp(const SmtpConfig& c) {
  auto n = make_smtp_notifier(c);
  EXPECT_TRUE(n.ok()) << n.error().message;
  return n.ok() ? std::move(*n) : nullptr;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

TEST(SmtpMessage, HeadersBodyAndCrlf) {
  SmtpConfig c = config("smtp://mail.example.com");
  Alert a = sample_alert(7, AlertKind::expired_in_use);
  const std::string m = smtp_message(c, a, {"alice@example.com", "admins@example.com"}, 1'800'000'000);
  EXPECT_TRUE(contains(m, "Date: Fri, 15 Jan 2027 08:00:00 +0000\r\n")) << m;
  EXPECT_TRUE(contains(m, "From: wgate@gw.example.com\r\n"));
  EXPECT_TRUE(contains(m, "To: alice@example.com, admins@example.com\r\n"));
  EXPECT_TRUE(contains(m, "Subject: " + a.subject + "\r\n"));
  EXPECT_TRUE(contains(m, "Message-ID: <wgate.expired_in_use.7@gw.example.com>\r\n"));
  EXPECT_TRUE(contains(m, "Content-Type: text/plain; charset=utf-8\r\n"));
  EXPECT_TRUE(contains(m, "\r\n\r\n" + a.text + "\r\n")) << m;
  EXPECT_TRUE(contains(m, "Person:         alice\r\n"));
  EXPECT_TRUE(contains(m, "Device:         laptop\r\n"));
  EXPECT_TRUE(contains(m, "Last handshake: 1970-01-11T09:59:50Z\r\n")) << m;
  // Every line ends in CRLF: no bare LF.
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') {
      ASSERT_TRUE(i > 0 && m[i - 1] == '\r') << "bare LF at " << i;
    }
  }
}

TEST(SmtpMessage, NoHeaderInjectionAndNonAsciiSubjectsEncoded) {
  SmtpConfig c = config("smtp://mail.example.com");
  Alert a = sample_alert(7);
  a.subject = "hi\r\nBcc: victim@example.com";
  std::string m = smtp_message(c, a, {"admins@example.com"}, 0);
  EXPECT_FALSE(contains(m, "\r\nBcc:")) << m;
  EXPECT_TRUE(contains(m, "Subject: hi  Bcc: victim@example.com\r\n"));

  a.subject = "wgate: Schlüssel von Jürgen läuft ab";
  m = smtp_message(c, a, {"admins@example.com"}, 0);
  EXPECT_TRUE(contains(m, "Subject: =?UTF-8?B?")) << m;
  EXPECT_FALSE(contains(m, "ü"));  // only the body may carry 8-bit text
  EXPECT_TRUE(contains(m, "?=\r\n"));
}

TEST(SmtpMessage, LongTextIsWrapped) {
  SmtpConfig c = config("smtp://mail.example.com");
  Alert a = sample_alert(7);
  a.text = std::string(300, 'x') + " " + std::string(10, 'y');
  for (int i = 0; i < 40; ++i) a.text += " word";
  const std::string m = smtp_message(c, a, {"admins@example.com"}, 0);
  size_t start = 0;
  for (size_t end = m.find("\r\n"); end != std::string::npos; start = end + 2, end = m.find("\r\n", start)) {
    EXPECT_LE(end - start, 998u);  // SMTP's limit (the 300-char word stays whole)
  }
  EXPECT_TRUE(contains(m, "yyyyyyyyyy word word"));
}

TEST(SmtpRecipients, OwnerThenFixedWithoutRepeats) {
  SmtpConfig c = config("smtp://mail.example.com");
  c.to = {"admins@example.com", "alice@example.com"};
  Alert a = sample_alert(7);
  EXPECT_EQ(smtp_recipients(c, a), (std::vector<std::string>{"alice@example.com", "admins@example.com"}));
  c.to_owner = false;
  EXPECT_EQ(smtp_recipients(c, a), (std::vector<std::string>{"admins@example.com", "alice@example.com"}));
  c.to_owner = true;
  c.to.clear();
  a.user_email = "";
  EXPECT_TRUE(smtp_recipients(c, a).empty());
  a.user_email = "bad\r\naddress@x";
  EXPECT_TRUE(smtp_recipients(c, a).empty());
  auto n = smtp(c);
  ASSERT_TRUE(n);
  EXPECT_FALSE(n->accepts(a));  // no recipient: no delivery on this channel
  EXPECT_TRUE(n->accepts(sample_alert(7)));
}

TEST(SmtpConfigCheck, RefusesUnsafeOrBrokenConfigs) {
  SmtpConfig c = config("smtp://mail.example.com:587");
  c.username = "wgate";
  c.password = "hunter2-secret";
  auto r = make_smtp_notifier(c);  // password, smtp://, no STARTTLS
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "without TLS")) << r.error().message;
  EXPECT_FALSE(contains(r.error().message, "hunter2"));
  c.starttls = true;
  EXPECT_TRUE(make_smtp_notifier(c).ok());
  c.url = "smtps://mail.example.com";
  c.starttls = false;
  EXPECT_TRUE(make_smtp_notifier(c).ok());

  SmtpConfig u = config("smtps://wgate:hunter2-secret@mail.example.com");
  r = make_smtp_notifier(u);
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(contains(r.error().message, "hunter2")) << r.error().message;

  SmtpConfig bad = config("https://mail.example.com");
  EXPECT_FALSE(make_smtp_notifier(bad).ok());
  bad = config("smtp://mail.example.com");
  bad.from = "wgate";
  EXPECT_FALSE(make_smtp_notifier(bad).ok());
  bad = config("smtp://mail.example.com");
  bad.to = {"a@b", "x>@y"};
  EXPECT_FALSE(make_smtp_notifier(bad).ok());
  bad = config("smtp://mail.example.com");
  bad.to.clear();
  bad.to_owner = false;
  EXPECT_FALSE(make_smtp_notifier(bad).ok());
  bad = config("smtp://mail.example.com");
  bad.password = "p";
  EXPECT_FALSE(make_smtp_notifier(bad).ok());  // a password without a username
}

TEST(Smtp, DeliversTheMessageWithSubjectAndBody) {
  FakeSmtpServer server;
  auto n = smtp(config(server.url()));
  ASSERT_TRUE(n);
  EXPECT_EQ(n->target(), "email " + server.url());
  const Alert a = sample_alert(7);
  Status s = n->send(a, {});
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_TRUE(server.wait_for_sessions(1));
  auto got = server.accepted();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].mail_from, "wgate@gw.example.com");
  EXPECT_EQ(got[0].rcpt_to, (std::vector<std::string>{"alice@example.com", "admins@example.com"}));
  EXPECT_TRUE(contains(got[0].data, "Subject: " + a.subject + "\r\n")) << got[0].data;
  EXPECT_TRUE(contains(got[0].data, a.text)) << got[0].data;
  EXPECT_TRUE(contains(got[0].data, "Device:         laptop"));
  EXPECT_EQ(got[0].commands.back(), "QUIT");
}

TEST(Smtp, ALineStartingWithADotSurvives) {
  FakeSmtpServer server;
  auto n = smtp(config(server.url()));
  ASSERT_TRUE(n);
  Alert a = sample_alert(7);
  a.text = std::string(70, 'a') + " .dot-first and then";  // wraps so that a line begins with '.'
  ASSERT_TRUE(n->send(a, {}).ok());
  ASSERT_TRUE(server.wait_for_sessions(1));
  auto got = server.accepted();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(contains(got[0].data, "\r\n.dot-first and then\r\n")) << got[0].data;
}

TEST(Smtp, ARejectedRecipientFailsTheDeliveryBeforeData) {
  FakeSmtpServer server;
  server.reject_rcpt("admins@example.com");
  auto n = smtp(config(server.url()));
  ASSERT_TRUE(n);
  Status s = n->send(sample_alert(7), {});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(contains(s.error().message, "email " + server.url() + ": ")) << s.error().message;
  ASSERT_TRUE(server.wait_for_sessions(1));
  EXPECT_TRUE(server.accepted().empty());
  auto sessions = server.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  for (const auto& c : sessions[0].commands) EXPECT_NE(c, "DATA");  // nobody got a copy
}

TEST(Smtp, RequiredStartTlsThatTheServerRefusesSendsNothingInClear) {
  FakeSmtpServer server;
  SmtpConfig c = config(server.url());
  c.starttls = true;
  c.username = "wgate";
  c.password = "hunter2-secret";
  auto n = smtp(c);
  ASSERT_TRUE(n);
  Status s = n->send(sample_alert(7), {});
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(contains(s.error().message, "hunter2")) << s.error().message;
  ASSERT_TRUE(server.wait_for_sessions(1));
  auto sessions = server.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  for (const auto& cmd : sessions[0].commands) {
    EXPECT_FALSE(contains(cmd, "MAIL")) << cmd;
    EXPECT_FALSE(contains(cmd, "AUTH")) << cmd;
  }
}

// The whole path: a server that fails DATA once (451), then accepts.
TEST(SmtpDelivery, ATemporaryFailureIsRetriedAndTheMessageArrivesOnce) {
  FakeSmtpServer server;
  server.fail_data(1);
  MemoryOutbox outbox;
  auto clock = std::make_unique<FakeClock>(1000, 100'000);
  std::vector<std::unique_ptr<Notifier>> ns;
  ns.push_back(smtp(config(server.url())));
  Dispatcher d(outbox, std::move(ns), {}, std::move(clock));
  auto added = d.raise({sample_alert(7, AlertKind::expiry_reminder)}, 1000);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, 1u);
  d.start();
  ASSERT_TRUE(eventually([&] {
    auto all = outbox.list(1);
    return all.ok() && !all->empty() && all->front().status == DeliveryStatus::delivered;
  }));
  d.stop();
  ASSERT_TRUE(server.wait_for_sessions(2));
  auto got = server.accepted();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(contains(got[0].data, "Subject: wgate: key 7 of alice/laptop\r\n"));
  EXPECT_EQ(server.sessions().size(), 2u);
  auto all = outbox.list(1);
  EXPECT_EQ(all->front().attempts, 2);
  EXPECT_EQ(all->front().channel, "email");
}

}  // namespace
}  // namespace wgate::notify::testing
