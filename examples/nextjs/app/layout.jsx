import { cookies } from "next/headers";
import { ConsentBanner } from "../components/client";
import { TOKEN_COOKIE } from "../lib/personalization";

export const metadata = { title: "Personalization example" };

export default async function RootLayout({ children }) {
  const answered = (await cookies()).has(TOKEN_COOKIE);
  return (
    <html lang="en">
      <body>
        {children}
        {!answered && <ConsentBanner />}
      </body>
    </html>
  );
}
