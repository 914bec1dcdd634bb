import { json } from "@sveltejs/kit";

export const GET = () => json({ message: "Anyone may read this." });
